/* SPDX-License-Identifier: MIT */
/*
 *  pse_flow.h -- public C API of module pysilk_ext._flow.
 */
#ifndef PSE_FLOW_H
#define PSE_FLOW_H

#include "pse.h"

#endif /* PSE_FLOW_H */
