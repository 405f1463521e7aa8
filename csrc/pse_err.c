/* SPDX-License-Identifier: MIT */
/*
 *  pse_err.c -- status text and version stamp (linked into every module).
 */
#include "pse.h"

/*
 *  text = pse_strerror(status);
 *
 *    Static text for 'status'; unknown codes get a fixed message.
 */
const char *
pse_strerror(
    int                 status)
{
    switch (status) {
      case PSE_OK:              return "Success";
      case PSE_ERR_NOMEM:       return "Out of memory";
      case PSE_ERR_ARG:         return "Invalid argument";
      case PSE_ERR_SHORT:       return "Input ended early";
      case PSE_ERR_FORMAT:      return "Input is not in the expected format";
      case PSE_ERR_RANGE:       return "Value out of range";
      case PSE_ERR_BUFFER:      return "Output buffer too small";
      case PSE_ERR_CORRUPT:     return "Corrupt data";
      case PSE_ERR_UNSUPPORTED: return "Not supported";
    }
    return "Unknown status";
}

/*
 *  version = pse_version();
 *
 *    The version string injected by build_ffi.py.
 */
const char *
pse_version(
    void)
{
    return PSE_PACKAGE_VERSION;
}
