/* SPDX-License-Identifier: MIT */
/*
 *  pse_flow.c -- C core of module pysilk_ext._flow.
 */
#include "pse_flow.h"
