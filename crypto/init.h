// One-time initialisation of the crypto library for runtimes and tests.
#pragma once

namespace curvecp {

// Initialises libsodium (sodium_init). Safe to call more than once and from several
// threads. Returns false if libsodium cannot initialise; nothing in crypto/ may be used then.
[[nodiscard]] bool crypto_initialize();

}  // namespace curvecp
