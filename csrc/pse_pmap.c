/* SPDX-License-Identifier: MIT */
/*
 *  pse_pmap.c -- C core of module pysilk_ext._pmap.
 */
#include "pse_pmap.h"
