// What checking page headers costs the embedded engine's destination (README: the engine's
// verification). Two figures for a guest of <MiB>:
//   pass:    one pass of HeaderIntact() over every page, as a check before the resume would cost
//            inside the downtime (ms; min and median of 5 passes over memory written just before)
//   writers: pages/s of one unlimited sequential writer with and without `check_header` (the
//            destination's writers check each header before they rewrite the page, after the
//            resume), alternating, <seconds> each, 3 times
//
//   header_check <MiB> <seconds>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "page_writer.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double PassMs(const uint8_t* base, uint64_t pages, uint64_t* bad) {
  const auto t0 = Clock::now();
  uint64_t n = 0;
  for (uint64_t i = 0; i < pages; ++i)
    n += migtest::HeaderIntact(base + i * migtest::kPageSize, i) ? 0 : 1;
  *bad += n;
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double WriterPagesPerSecond(uint8_t* base, uint64_t bytes, bool check_header, double seconds) {
  migtest::PageWriter::Options o;
  o.check_header = check_header;
  migtest::PageWriter w(base, bytes, o);
  w.Start();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  w.Stop();
  if (w.Errors() > 0) std::fprintf(stderr, "header_check: %s\n", w.FirstError()->c_str());
  return static_cast<double>(w.PagesWritten()) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: header_check <MiB> <seconds>\n");
    return 2;
  }
  const uint64_t bytes = std::strtoull(argv[1], nullptr, 10) << 20;
  const double seconds = std::atof(argv[2]);
  const uint64_t pages = bytes / migtest::kPageSize;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED || pages == 0 || seconds <= 0) {
    std::fprintf(stderr, "header_check: cannot map %s MiB, or bad seconds\n", argv[1]);
    return 1;
  }
  auto* base = static_cast<uint8_t*>(p);
  migtest::PageWriter(base, bytes, {}).Preheat();
  std::vector<double> ms;
  uint64_t bad = 0;
  for (int k = 0; k < 5; ++k) ms.push_back(PassMs(base, pages, &bad));
  std::sort(ms.begin(), ms.end());
  std::printf("pass over %llu MiB (%llu pages): min %.2f ms, median %.2f ms (%llu bad)\n",
              static_cast<unsigned long long>(bytes >> 20), static_cast<unsigned long long>(pages),
              ms.front(), ms[2], static_cast<unsigned long long>(bad));
  for (int k = 0; k < 3; ++k) {
    for (const bool check : {false, true}) {
      std::printf("writer, check_header %-3s: %.0f pages/s\n", check ? "on" : "off",
                  WriterPagesPerSecond(base, bytes, check, seconds));
    }
  }
  ::munmap(p, bytes);
  return bad == 0 ? 0 : 1;
}
