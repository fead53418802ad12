// libFuzzer target: any byte string must parse or fail cleanly, never over-read.
#include <cstddef>
#include <cstdint>

#include "gguf/gguf_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = ll::gguf::File::parse(ll::MappedFile::from_memory(data, size));
  if (f.is_ok()) {
    volatile uint8_t sink = 0;
    for (const auto& t : (*f)->tensors()) {
      if (t.n_bytes > 0) sink ^= t.data[0] ^ t.data[t.n_bytes - 1];
    }
    (void)sink;
  }
  return 0;
}
