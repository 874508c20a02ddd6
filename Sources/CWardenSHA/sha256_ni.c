// SHA-256 compression with the x86 SHA extensions, one message or two interleaved.
//
// BoringSSL (through swift-crypto) already uses these instructions, one message at a time. A
// round instruction's result feeds the next, so one message leaves the SHA unit idle most
// cycles; `audit verify` has independent hashes at hand (the next event's leaf beside this
// event's chain link and Merkle nodes), and running two through the unit together keeps it
// busy (docs/performance.md). Only compression lives here; padding and digests are done in Swift.
#include "CWardenSHA.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

int warden_sha256_accelerated(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    const int ssse3 = (ecx >> 9) & 1, sse41 = (ecx >> 19) & 1;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    const int sha = (ebx >> 29) & 1;
    return ssse3 && sse41 && sha;
}

#define TARGET __attribute__((target("sha,sse4.1,ssse3")))

// The state as the round instructions hold it: ABEF and CDGH.
TARGET static inline void load_state(const uint32_t state[8], __m128i *abef, __m128i *cdgh) {
    __m128i dcba = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[0]), 0xB1);  // CDAB
    __m128i hgfe = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[4]), 0x1B);  // EFGH
    *abef = _mm_alignr_epi8(dcba, hgfe, 8);
    *cdgh = _mm_blend_epi16(hgfe, dcba, 0xF0);
}

TARGET static inline void store_state(uint32_t state[8], __m128i abef, __m128i cdgh) {
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(feba, dchg, 0xF0));
    _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(dchg, feba, 8));
}

// Four rounds of group `i` (0..15): the message words first (loaded, or scheduled from the
// four groups before), then two round instructions of two rounds each.
#define GROUP(i, w, s0, s1, data)                                                                  \
    do {                                                                                           \
        if ((i) < 4) {                                                                             \
            w[(i) & 3] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)((data) + 16 * (i))), mask); \
        } else {                                                                                   \
            __m128i t = _mm_add_epi32(_mm_sha256msg1_epu32(w[(i) & 3], w[((i) + 1) & 3]),          \
                                      _mm_alignr_epi8(w[((i) + 3) & 3], w[((i) + 2) & 3], 4));     \
            w[(i) & 3] = _mm_sha256msg2_epu32(t, w[((i) + 3) & 3]);                                \
        }                                                                                          \
        __m128i m = _mm_add_epi32(w[(i) & 3], _mm_loadu_si128((const __m128i *)&K[4 * (i)]));      \
        s1 = _mm_sha256rnds2_epu32(s1, s0, m);                                                     \
        s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(m, 0x0E));                            \
    } while (0)

TARGET void warden_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks) {
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i s0, s1;
    load_state(state, &s0, &s1);
    for (; blocks > 0; blocks--, data += 64) {
        const __m128i save0 = s0, save1 = s1;
        __m128i w[4];
#pragma clang loop unroll(full)
        for (int i = 0; i < 16; i++) GROUP(i, w, s0, s1, data);
        s0 = _mm_add_epi32(s0, save0);
        s1 = _mm_add_epi32(s1, save1);
    }
    store_state(state, s0, s1);
}

TARGET void warden_sha256_blocks_x2(uint32_t a[8], const uint8_t *da, uint32_t b[8], const uint8_t *db, size_t blocks) {
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i a0, a1, b0, b1;
    load_state(a, &a0, &a1);
    load_state(b, &b0, &b1);
    for (; blocks > 0; blocks--, da += 64, db += 64) {
        const __m128i sa0 = a0, sa1 = a1, sb0 = b0, sb1 = b1;
        __m128i wa[4], wb[4];
#pragma clang loop unroll(full)
        for (int i = 0; i < 16; i++) {
            GROUP(i, wa, a0, a1, da);
            GROUP(i, wb, b0, b1, db);
        }
        a0 = _mm_add_epi32(a0, sa0);
        a1 = _mm_add_epi32(a1, sa1);
        b0 = _mm_add_epi32(b0, sb0);
        b1 = _mm_add_epi32(b1, sb1);
    }
    store_state(a, a0, a1);
    store_state(b, b0, b1);
}

#else

int warden_sha256_accelerated(void) { return 0; }
void warden_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks) { (void)state; (void)data; (void)blocks; }
void warden_sha256_blocks_x2(uint32_t a[8], const uint8_t *da, uint32_t b[8], const uint8_t *db, size_t blocks) {
    (void)a; (void)da; (void)b; (void)db; (void)blocks;
}

#endif
