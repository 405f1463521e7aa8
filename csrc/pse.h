/* SPDX-License-Identifier: MIT */
/*
 *  pse.h -- status codes and version stamp shared by every C module of
 *  pysilk_ext.  Each module has its own header pse_<name>.h.
 *
 *  Conventions: every fallible function returns int (PSE_OK == 0, else a
 *  PSE_ERR_* value) and writes results through out-pointers.  The C never
 *  prints, never exits, and keeps no global mutable state: it runs inside
 *  rwfilter's process when the plug-in is loaded.
 */
#ifndef PSE_H
#define PSE_H

#include <stddef.h>
#include <stdint.h>

#ifndef PSE_PACKAGE_VERSION
#error "PSE_PACKAGE_VERSION must be defined by build_ffi.py"
#endif

enum pse_status_en {
    PSE_OK = 0,
    PSE_ERR_NOMEM = 1,      /* allocation failed */
    PSE_ERR_ARG = 2,        /* invalid argument from the caller */
    PSE_ERR_SHORT = 3,      /* input ended before a complete item */
    PSE_ERR_FORMAT = 4,     /* input is not in the expected format */
    PSE_ERR_RANGE = 5,      /* a value does not fit its field */
    PSE_ERR_BUFFER = 6,     /* output buffer too small */
    PSE_ERR_CORRUPT = 7,    /* structure is internally inconsistent */
    PSE_ERR_UNSUPPORTED = 8 /* valid, but not supported by this build */
};

/*
 *  text = pse_strerror(status);
 *
 *    Return static text for a status code; never NULL.
 */
const char *
pse_strerror(
    int                 status);

/*
 *  version = pse_version();
 *
 *    Return the package version compiled into this module, so that
 *    _binding.py can refuse a stale build.
 */
const char *
pse_version(
    void);

#endif /* PSE_H */
