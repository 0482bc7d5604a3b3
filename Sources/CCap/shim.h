// libcap for Swift: capability sets are prepared by the parent and applied in the child.
#ifndef WARDEN_CCAP_SHIM_H
#define WARDEN_CCAP_SHIM_H
#include <sys/capability.h>
#include <linux/securebits.h>
#endif
