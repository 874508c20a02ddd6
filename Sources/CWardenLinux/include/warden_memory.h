// malloc's footprint in a long-lived daemon.
// Each call returns 0, or -1 with errno set, like the libc call, unless it says otherwise.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Gives the pages malloc holds free, in every arena, back to the kernel (malloc_trim(0)).
 * Returns 1 if any memory was released. */
int warden_release_free_memory(void);
/* Bytes malloc has handed out and not had back, over every arena (mallinfo2: uordblks +
 * hblkhd). Unlike the resident size, free memory that fragmentation keeps inside an arena does
 * not count, so it rises only with what the process really holds. */
size_t warden_heap_in_use(void);
/* Fixed malloc thresholds for a long-lived daemon (see memory.c). */
void warden_configure_malloc(void);
