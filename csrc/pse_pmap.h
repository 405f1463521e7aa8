/* SPDX-License-Identifier: MIT */
/*
 *  pse_pmap.h -- public C API of module pysilk_ext._pmap.
 */
#ifndef PSE_PMAP_H
#define PSE_PMAP_H

#include "pse.h"

#endif /* PSE_PMAP_H */
