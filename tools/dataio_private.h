/* Shared between dataio_read.c and dataio_write.c; not part of dataio.h. */
#ifndef EMGMM_DATAIO_PRIVATE_H
#define EMGMM_DATAIO_PRIVATE_H

#include <stddef.h>

#if defined(__GNUC__) || defined(__clang__)
#define DATAIO_PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define DATAIO_PRINTF_LIKE(f, a)
#endif

/* Formats the one-line message into err (errlen bytes); NULL err is fine. */
void dataio_set_error(char *err, size_t errlen, const char *fmt, ...)
    DATAIO_PRINTF_LIKE(3, 4);

#endif
