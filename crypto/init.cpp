#include "crypto/init.h"

#include <sodium.h>

namespace curvecp {

// sodium_init returns 0 the first time, 1 when already initialised, -1 on failure.
bool crypto_initialize() { return sodium_init() >= 0; }

}  // namespace curvecp
