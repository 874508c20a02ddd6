#ifndef CWARDEN_SHA_H
#define CWARDEN_SHA_H

#include <stddef.h>
#include <stdint.h>

/// Whether this CPU has the SHA extensions (and SSSE3, SSE4.1) the functions below use. When it
/// does not (or on another architecture), they must not be called.
int warden_sha256_accelerated(void);

/// Compresses `blocks` 64-byte blocks into `state` (the eight words H0..H7, host order).
void warden_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

/// The same for two independent messages of `blocks` blocks each, interleaved.
void warden_sha256_blocks_x2(uint32_t a[8], const uint8_t *da, uint32_t b[8], const uint8_t *db, size_t blocks);

#endif
