// Streaming decompression of gzip/zlib, raw deflate (zip members), xz/lzma and bzip2, for
// following a file's bytes through archives. Output goes to a sink in chunks; the caller bounds
// how much is produced. Nothing here touches the filesystem.
#ifndef CWARDEN_CODECS_H
#define CWARDEN_CODECS_H

#include <stddef.h>
#include <stdint.h>

enum warden_codec {
    WARDEN_CODEC_GZIP = 0,     // gzip or zlib (detected), concatenated members followed
    WARDEN_CODEC_DEFLATE = 1,  // raw deflate, as in a zip member
    WARDEN_CODEC_XZ = 2,       // xz or lzma (detected)
    WARDEN_CODEC_BZIP2 = 3,
};

enum warden_codec_status {
    WARDEN_CODEC_MORE = 0,      // the input so far was consumed; feed more
    WARDEN_CODEC_END = 1,       // the stream ended
    WARDEN_CODEC_CAPPED = 2,    // `cap` bytes were produced; decoding stopped
    WARDEN_CODEC_STOPPED = 3,   // the sink asked to stop
    WARDEN_CODEC_CORRUPT = -1,  // not a valid stream of this codec
};

// Receives decoded bytes; returns nonzero to stop decoding.
typedef int (*warden_codec_sink)(void *context, const uint8_t *data, size_t length);

typedef struct warden_decoder warden_decoder;

// A decoder that stops after producing `cap` bytes in all. NULL if out of memory.
warden_decoder *warden_decoder_new(int codec, uint64_t cap);
// Decodes `length` more bytes of input; `*produced` is the total produced so far.
int warden_decoder_feed(warden_decoder *decoder, const uint8_t *input, size_t length,
                        warden_codec_sink sink, void *context, uint64_t *produced);
void warden_decoder_free(warden_decoder *decoder);

#endif
