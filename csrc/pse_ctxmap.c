/* SPDX-License-Identifier: MIT */
/*
 *  pse_ctxmap.c -- C core of module pysilk_ext._ctxmap.
 */
#include "pse_ctxmap.h"
