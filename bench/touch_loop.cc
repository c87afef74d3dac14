// The reference for mm_dirty's maximum page-touch rate: the plainest loop that dirties memory in
// 4 KiB steps, one byte per page (what mig_mon does), sequentially or at random pages (with the
// same cheap xorshift generator a dirtier would use). Prints "MiB/s" of pages touched.
//
//   touch_loop <MiB> <seconds> sequential|random
#include <sys/mman.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: touch_loop <MiB> <seconds> sequential|random\n");
    return 2;
  }
  const uint64_t bytes = std::strtoull(argv[1], nullptr, 10) << 20;
  const double seconds = std::atof(argv[2]);
  const bool random = std::strcmp(argv[3], "random") == 0;
  const uint64_t pages = bytes / 4096;
  auto* mem = static_cast<volatile uint8_t*>(
      mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (mem == MAP_FAILED || pages == 0) return 1;
  for (uint64_t i = 0; i < pages; ++i) mem[i * 4096] = 1;  // pre-heat
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  uint64_t touched = 0, next = 0, s = 0x9e3779b97f4a7c15;
  double elapsed = 0;
  while (elapsed < seconds) {
    for (int k = 0; k < 4096; ++k) {
      uint64_t i;
      if (random) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        // Lemire's range reduction with a 128-bit product (a GNU extension, said so for -pedantic).
        __extension__ using u128 = unsigned __int128;
        i = static_cast<uint64_t>((static_cast<u128>(s * 0x2545f4914f6cdd1d) * pages) >> 64);
      } else {
        i = next;
        next = next + 1 == pages ? 0 : next + 1;
      }
      mem[i * 4096] = static_cast<uint8_t>(mem[i * 4096] + 1);
    }
    touched += 4096;
    elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  std::printf("%.1f\n", static_cast<double>(touched) * 4096 / (1 << 20) / elapsed);
  return 0;
}
