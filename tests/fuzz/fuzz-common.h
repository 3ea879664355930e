/* fuzz-common.h: what the libFuzzer targets share. */
#pragma once

#include <glib.h>
#include <stddef.h>

G_BEGIN_DECLS

int         LLVMFuzzerInitialize   (int           *argc,
                                    char        ***argv);
int         LLVMFuzzerTestOneInput (const guint8  *data,
                                    size_t         size);
const char *__asan_default_options (void);

G_END_DECLS
