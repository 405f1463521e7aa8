/* SPDX-License-Identifier: MIT */
/*
 *  pse_vpc.c -- C core of module pysilk_ext._vpc.
 */
#include "pse_vpc.h"
