// Fuzz builds only: secret-key memory from the AddressSanitizer heap instead of
// libsodium's guarded pages. Include it in exactly one translation unit of a fuzz target.
//
// Every SecretKey (crypto/keys.cpp) is a sodium_malloc: an mmap of four pages, two
// mprotects and, when freed, an munmap. A target that builds its world per input (a fresh
// endpoint, its short-term keys per Hello) spent a third of its time in those system
// calls. The definitions below take precedence over libsodium's (the executable's symbols
// interpose a shared library's; libsodium itself never calls them), so curvecp's code is
// unchanged and still wipes and frees its keys through them. Nothing is lost for the
// fuzzer: ASan's redzones and quarantine catch an overflow or a use after free of key
// bytes at byte granularity, where the guard pages only catch page-sized overruns. The
// real allocator stays covered by the unit, end-to-end and interop tests.
#pragma once

#include <malloc.h>
#include <sodium.h>

#include <cstdlib>

extern "C" void* sodium_malloc(const size_t size) { return std::malloc(size == 0 ? 1 : size); }

extern "C" void sodium_free(void* ptr) {
  if (ptr == nullptr) return;
  sodium_memzero(ptr, malloc_usable_size(ptr));  // as libsodium does: wiped before it is freed
  std::free(ptr);
}
