// The engine's source, when things go wrong: the faults a test injects (a stalled sync, lost
// dirty bits; the dropped connection is the Channel's, --test-slow-phase the SlowPhase's) and
// what a failed migration leaves behind: the guest running on here, its memory checked.
#include "engine/source.hpp"

namespace migtest::engine {

// The writers' dirty logging under --test-lose-dirty (bitmap mode): as PageWriter's own, except
// for broken pages.
void Source::MarkDirty(void* context, uint64_t page) {
  auto* self = static_cast<Source*>(context);
  if (self->untracked_[page].load(std::memory_order_acquire)) {
    self->lost_dirty_writes_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  self->dirty_[page / 64].fetch_or(uint64_t{1} << (page % 64), std::memory_order_release);
}

// --test-lose-dirty N: dirty tracking breaks for N pages (i·P/N + P/(2N), i < N, of P pages).
// Called once every page sent so far is on the wire: with the writers paused, each of those
// pages is written once more (a vCPU's write) and its dirty bit cleared, and from now on no
// write to it is logged. Its last sent copy is therefore older than the source's memory, for
// certain, and no later round sends it again: only a check against the source's real memory
// catches it.
void Source::BreakDirtyTracking() {
  writer_->Pause();
  for (uint64_t i = 0; i < o_.lose_dirty; ++i) {
    const uint64_t p = (2 * i + 1) * pages_ / (2 * o_.lose_dirty);
    WritePage(mem_.page(p), p, PageGeneration(mem_.page(p)) + 1, /*with_body=*/false);
    lost_dirty_writes_.fetch_add(1, std::memory_order_relaxed);
  }
  // After the writes: under uffd-wp a write-protected page's trap logs that write first.
  for (uint64_t i = 0; i < o_.lose_dirty; ++i) {
    const uint64_t p = (2 * i + 1) * pages_ / (2 * o_.lose_dirty);
    untracked_[p].store(1, std::memory_order_release);
    dirty_[p / 64].fetch_and(~(uint64_t{1} << (p % 64)), std::memory_order_acq_rel);
  }
  result_.pages["test_lost_dirty_pages"] = o_.lose_dirty;
  fmt::print(stderr, "migrate: test knob: dirty tracking of {} pages broken (first: page {})\n",
             o_.lose_dirty, pages_ / (2 * o_.lose_dirty));
  writer_->Resume();
}

// --inject-stall ITER:MS: the dirty-bit sync of iteration ITER takes MS longer.
void Source::InjectStall(int iteration) {
  if (iteration == o_.stall_iteration) SleepInterruptible(o_.stall_ms * 1'000'000);
}

// The migration failed (or was cancelled): the result says so and where, and a guest that did
// not reach the destination keeps running here.
void Source::Failed(const std::exception& e) {
  MigrationResult& m = result_;
  // Cancelled (SIGUSR1, as QEMU's migrate_cancel): given up on purpose, not failed.
  m.status = CancelRequested() ? Status::kCancelled : Status::kFailed;
  m.error = fmt::format("{} (during {})", e.what(), phase_);
  if (postcopy_started_) {
    *m.error += "; the guest is lost on both sides";
  } else if (resumed_) {
    // The guest runs on the destination already; only the check against our memory failed.
    *m.error += "; the guest runs on the destination, unverified";
  } else {
    // The guest keeps running on the source: a failed precopy leaves it where it was.
    KeepGuestRunning();
    echo_.Open(o_.echo_port);
    guest_kept_ = true;
    if (o_.corrupt_page >= 0 && static_cast<uint64_t>(o_.corrupt_page) < pages_) {
      mem_.page(static_cast<uint64_t>(o_.corrupt_page))[40] ^= 0x5a;  // in the body
    }
  }
  fmt::print(stderr, "migmon migrate: migration {}: {}\n",
             m.status == Status::kCancelled ? "cancelled" : "failed", *m.error);
}

// After a failed precopy the writers run on (or again, after stop-and-copy paused them). Their
// write span starts here, so that how long the guest ran after the failure is measured by its
// writers. Resetting it needs them parked: a pause of one slice (~1 ms) at most.
void Source::KeepGuestRunning() {
  if (!writer_) return;
  writer_->Pause();
  writer_->ResetWriteSpan();
  writer_->Resume();
}

// Waits out --run-after-failure, stopping the writers early under --test-stop-writers-after.
void Source::LetGuestRun() {
  int64_t left_ms = o_.run_after_failure_ms;
  if (o_.stop_writers_after_ms >= 0 && o_.stop_writers_after_ms < left_ms) {
    SleepInterruptible(o_.stop_writers_after_ms * 1'000'000);
    writer_->Stop();
    fmt::print(stderr, "migrate: test knob: the guest's writers stopped {} ms into its run\n",
               o_.stop_writers_after_ms);
    left_ms -= o_.stop_writers_after_ms;
  }
  SleepInterruptible(left_ms * 1'000'000);
  writer_->Stop();
}

// The guest the failed migration left here runs on, its writers verifying each page before they
// rewrite it; then every page is checked. What a VMM's guest console would say, as `guest`.
void Source::RunGuestAfterFailure() {
  LetGuestRun();
  GuestResult g;
  g.console = "migmon migrate (source): the guest after the failed migration";
  // Measured by the writers: from the first to the last verified rewrite since the failure
  // (whole seconds, rounded down), not the time we asked the guest to run.
  const PageWriter::WriteSpan span = writer_->Span();
  const double seconds = Ms(span.last_ns - span.first_ns) / 1e3;
  if (span.pages > 0) g.dirtier_seconds = static_cast<uint64_t>(seconds);
  std::string why;
  uint64_t bad = writer_->Errors();
  if (bad > 0) why = writer_->FirstError().value_or("a page did not verify");
  if (bad == 0) bad = writer_->VerifyAll(&why);
  g.verify_errors = bad;
  // `lines` counts console lines read; this guest has no console, so none were: 0.
  g.lines = 0;
  if (bad > 0) {
    g.problems.push_back({.line = 0, .text = "MIGTEST-GUEST-ERROR memory corrupted: " + why});
  }
  guest_after_failure_ = std::move(g);
  fmt::print(stderr,
             "migmon migrate: the guest's writers ran {:.1f} s after the failure ({} pages "
             "verified and rewritten); {}\n",
             seconds, span.pages, bad == 0 ? "every page verified" : "memory corrupted: " + why);
}

}  // namespace migtest::engine
