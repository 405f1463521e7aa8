/* SPDX-License-Identifier: MIT */
/*
 *  pse_ctxmap.h -- public C API of module pysilk_ext._ctxmap.
 */
#ifndef PSE_CTXMAP_H
#define PSE_CTXMAP_H

#include "pse.h"

#endif /* PSE_CTXMAP_H */
