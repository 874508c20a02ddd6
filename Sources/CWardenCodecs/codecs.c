#include "CWardenCodecs.h"

#include <bzlib.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct warden_decoder {
    int codec;
    uint64_t cap;
    uint64_t produced;
    int ended;
    union {
        z_stream z;
        lzma_stream x;
        bz_stream b;
    } s;
    uint8_t out[1 << 16];
};

warden_decoder *warden_decoder_new(int codec, uint64_t cap) {
    warden_decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->codec = codec;
    d->cap = cap;
    int ok = 0;
    switch (codec) {
    case WARDEN_CODEC_GZIP: ok = inflateInit2(&d->s.z, 15 + 32) == Z_OK; break;
    case WARDEN_CODEC_DEFLATE: ok = inflateInit2(&d->s.z, -15) == Z_OK; break;
    case WARDEN_CODEC_XZ: {
        lzma_stream init = LZMA_STREAM_INIT;
        d->s.x = init;
        ok = lzma_auto_decoder(&d->s.x, UINT64_MAX, LZMA_CONCATENATED) == LZMA_OK;
        break;
    }
    case WARDEN_CODEC_BZIP2: ok = BZ2_bzDecompressInit(&d->s.b, 0, 0) == BZ_OK; break;
    }
    if (!ok) {
        free(d);
        return NULL;
    }
    return d;
}

// Hands `n` produced bytes to the sink, within the cap.
static int emit(warden_decoder *d, size_t n, warden_codec_sink sink, void *context) {
    if (d->produced + n > d->cap) n = (size_t)(d->cap - d->produced);
    d->produced += n;
    if (n && sink(context, d->out, n)) return WARDEN_CODEC_STOPPED;
    if (d->produced >= d->cap) return WARDEN_CODEC_CAPPED;
    return WARDEN_CODEC_MORE;
}

int warden_decoder_feed(warden_decoder *d, const uint8_t *input, size_t length, warden_codec_sink sink, void *context,
                        uint64_t *produced) {
    int status = WARDEN_CODEC_MORE;
    if (d->ended) {
        *produced = d->produced;
        return WARDEN_CODEC_END;
    }
    switch (d->codec) {
    case WARDEN_CODEC_GZIP:
    case WARDEN_CODEC_DEFLATE: {
        z_stream *z = &d->s.z;
        z->next_in = (Bytef *)input;
        z->avail_in = (uInt)length;
        while (status == WARDEN_CODEC_MORE) {
            z->next_out = d->out;
            z->avail_out = sizeof d->out;
            int rc = inflate(z, Z_NO_FLUSH);
            size_t n = sizeof d->out - z->avail_out;
            if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) { status = WARDEN_CODEC_CORRUPT; break; }
            status = emit(d, n, sink, context);
            if (status != WARDEN_CODEC_MORE) break;
            if (rc == Z_STREAM_END) {
                // gzip allows members one after another; a raw deflate stream ends here.
                if (d->codec == WARDEN_CODEC_GZIP && z->avail_in > 0 && inflateReset(z) == Z_OK) continue;
                d->ended = 1;
                status = WARDEN_CODEC_END;
                break;
            }
            if (z->avail_in == 0 && n == 0) break;
            if (rc == Z_BUF_ERROR && n == 0) break;
        }
        break;
    }
    case WARDEN_CODEC_XZ: {
        lzma_stream *x = &d->s.x;
        x->next_in = input;
        x->avail_in = length;
        while (status == WARDEN_CODEC_MORE) {
            x->next_out = d->out;
            x->avail_out = sizeof d->out;
            lzma_ret rc = lzma_code(x, length ? LZMA_RUN : LZMA_FINISH);
            size_t n = sizeof d->out - x->avail_out;
            if (rc != LZMA_OK && rc != LZMA_STREAM_END && rc != LZMA_BUF_ERROR) { status = WARDEN_CODEC_CORRUPT; break; }
            status = emit(d, n, sink, context);
            if (status != WARDEN_CODEC_MORE) break;
            if (rc == LZMA_STREAM_END) { d->ended = 1; status = WARDEN_CODEC_END; break; }
            if (x->avail_in == 0 && n == 0) break;
        }
        break;
    }
    case WARDEN_CODEC_BZIP2: {
        bz_stream *b = &d->s.b;
        b->next_in = (char *)input;
        b->avail_in = (unsigned)length;
        while (status == WARDEN_CODEC_MORE) {
            b->next_out = (char *)d->out;
            b->avail_out = sizeof d->out;
            int rc = BZ2_bzDecompress(b);
            size_t n = sizeof d->out - b->avail_out;
            if (rc != BZ_OK && rc != BZ_STREAM_END) { status = WARDEN_CODEC_CORRUPT; break; }
            status = emit(d, n, sink, context);
            if (status != WARDEN_CODEC_MORE) break;
            if (rc == BZ_STREAM_END) { d->ended = 1; status = WARDEN_CODEC_END; break; }
            if (b->avail_in == 0 && n == 0) break;
        }
        break;
    }
    }
    *produced = d->produced;
    return status;
}

void warden_decoder_free(warden_decoder *d) {
    if (!d) return;
    switch (d->codec) {
    case WARDEN_CODEC_GZIP:
    case WARDEN_CODEC_DEFLATE: inflateEnd(&d->s.z); break;
    case WARDEN_CODEC_XZ: lzma_end(&d->s.x); break;
    case WARDEN_CODEC_BZIP2: BZ2_bzDecompressEnd(&d->s.b); break;
    }
    free(d);
}
