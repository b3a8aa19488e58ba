/* The one error formatter shared by the data readers and writers. */
#include "dataio_private.h"

#include <stdarg.h>
#include <stdio.h>

void dataio_set_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    /* The message is one line whatever it quotes (a .npy header, a file
     * name): control bytes become '?'. */
    for (char *p = err; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}
