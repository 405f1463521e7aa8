/* SPDX-License-Identifier: MIT */
/*
 *  pse_vpc.h -- public C API of module pysilk_ext._vpc.
 */
#ifndef PSE_VPC_H
#define PSE_VPC_H

#include "pse.h"

#endif /* PSE_VPC_H */
