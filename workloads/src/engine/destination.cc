#include "engine/destination.hpp"

#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "engine/engine.hpp"
#include "engine/postcopy.hpp"
#include "engine/protocol.hpp"
#include "migtest/results/json.hpp"
#include "page_writer.hpp"

namespace migtest::engine {
namespace {

using nlohmann::json;

class Destination {
 public:
  explicit Destination(DestinationOptions o) : o_(std::move(o)) {}

  int Run() {
    // As a VMM's destination is started with its RAM before the incoming migration, so that
    // allocating it is not the migration's time.
    if (o_.memory > 0) mem_ = std::make_unique<Memory>(o_.memory, /*populate=*/true);
    Fd listener = BindAny(SOCK_STREAM, o_.port);
    fmt::print(stdout, "ready port={}\n", LocalPort(listener.get()));
    std::fflush(stdout);
    int code = kExitOk;
    try {
      auto conn = AcceptWithTimeout(listener.get(), std::chrono::seconds(120));
      if (!conn) throw RuntimeError("no source connected within 120 s");
      listener.Reset();
      ch_ = Channel(std::move(*conn), "the source");
      phase_ = "setup";
      Receive();
    } catch (const std::exception& e) {
      result_.status = Status::kFailed;
      result_.error = fmt::format("{} (during {})", e.what(), phase_);
      // The guest did pause and resume here: that downtime was real, whatever came after.
      if (resume_ns_ != 0) result_.downtime = NsToDuration(resume_ns_ - pause_ns_);
      if (postcopy_ && postcopy_->started()) {
        // The guest runs here on memory part of which is still on the source: without the
        // source it cannot go on (QEMU's destination pauses in postcopy-paused; nothing here
        // could resume it).
        *result_.error += fmt::format("; {} of {} pages never arrived: the guest is lost",
                                      postcopy_->missing(), pages_);
      }
      fmt::print(stderr, "migmon migrate: destination: {}\n", *result_.error);
      code = kExitRuntime;
    }
    echo_.Close();
    // The postcopy side first: it wakes the vCPUs blocked on pages that will not come, so that
    // the writers can stop.
    if (postcopy_) postcopy_->Stop();
    if (writer_) writer_->Stop();
    RunResult run;
    run.format = Format::kMigtest;
    run.source = "migmon migrate (destination)";
    run.migration = result_;
    WriteJsonFile(o_.json_file, run);
    return code;
  }

 private:
  void Receive() {
    Header hello = ch_.Receive("the hello");
    if (hello.type != static_cast<uint32_t>(Msg::kHello)) {
      throw RuntimeError(fmt::format("expected hello from the source, got message {}", hello.type));
    }
    json cfg = json::parse(ch_.ReadPayloadString(hello.length), nullptr, false);
    if (!cfg.is_object() || !cfg.contains("pages"))
      throw RuntimeError("the source's hello is garbage");
    pages_ = cfg["pages"].get<uint64_t>();
    if (pages_ == 0 || pages_ > (uint64_t{1} << 30)) {
      throw RuntimeError(fmt::format("the source asks for {} pages", pages_));
    }
    if (o_.corrupt_header >= 0 && static_cast<uint64_t>(o_.corrupt_header) >= pages_) {
      throw RuntimeError(
          fmt::format("--test-corrupt-header: page {} is beyond the guest's {} pages",
                      o_.corrupt_header, pages_));
    }
    cfg_ = cfg;
    if (cfg.contains("test_slow_phase")) {
      slow_phase_.name = cfg["test_slow_phase"].value("name", std::string());
      slow_phase_.ms = cfg["test_slow_phase"].value("ms", int64_t{0});
    }
    const bool postcopy = cfg.value("postcopy", false);
    if (mem_ && mem_->bytes() != pages_ * kPageSize) {
      throw RuntimeError(fmt::format("the source's guest has {} MiB, this destination {} MiB (-m)",
                                     (pages_ * kPageSize) >> 20, mem_->bytes() >> 20));
    }
    // Postcopy needs memory no page of which was ever touched, for userfaultfd.
    if (!mem_ || postcopy) mem_ = std::make_unique<Memory>(pages_ * kPageSize);
    received_.assign(pages_, ~uint64_t{0});  // ~0: never received
    if (cfg.value("postcopy", false)) {
      postcopy_ = std::make_unique<PostcopyDestination>(mem_->base(), pages_);
    }
    const std::string boot = BootId();
    ch_.Send(Msg::kReady, static_cast<uint64_t>(MonoNs()), 0, boot.data(), boot.size());
    result_.status = Status::kActive;
    phase_ = "precopy iteration 1";
    while (true) {
      Header h = ch_.Receive();
      switch (static_cast<Msg>(h.type)) {
        case Msg::kPages:
          ReceivePages(h);
          break;
        case Msg::kIterEnd:
          phase_ = fmt::format("precopy iteration {}", h.a + 1);
          break;
        case Msg::kStopCopy:
          pause_ns_ = static_cast<int64_t>(h.a);
          phase_ = "stop-and-copy";
          break;
        case Msg::kState:
          FinishPrecopy(h);
          return;
        case Msg::kPostcopy:
          pause_ns_ = static_cast<int64_t>(h.a);
          phase_ = "the switch to postcopy";
          RunPostcopy();
          return;
        default:
          throw RuntimeError(fmt::format("unexpected message {} from the source", h.type));
      }
    }
  }

  void ReceivePages(const Header& h) {
    if (h.a + h.b > pages_ || h.length != h.b * kPageSize) {
      throw RuntimeError(fmt::format("the source sent pages [{}, +{}) of {}", h.a, h.b, pages_));
    }
    if (postcopy_) {
      buffer_.resize(h.length);
      ch_.ReadPayload(buffer_.data(), h.length);
      for (uint64_t k = 0; k < h.b; ++k)
        postcopy_->Install(h.a + k, buffer_.data() + k * kPageSize);
    } else {
      ch_.ReadPayload(mem_->page(h.a), h.length);
      for (uint64_t k = h.a; k < h.a + h.b; ++k) received_[k] = PageGeneration(mem_->page(k));
      pages_received_ += h.b;
    }
  }

  // Receives a message of `words` 64-bit words (a generation table or a bitmap) of type `type`.
  std::vector<uint64_t> ReadWords(Msg type, uint64_t words, const char* what) {
    const Header h = ch_.Receive(what);
    if (h.type != static_cast<uint32_t>(type)) {
      throw RuntimeError(fmt::format("expected {}, got message {}", what, h.type));
    }
    if (h.length != words * sizeof(uint64_t)) {
      throw RuntimeError(
          fmt::format("{} is {} bytes, expected {}", what, h.length, words * sizeof(uint64_t)));
    }
    std::vector<uint64_t> table(words);
    ch_.ReadPayload(table.data(), h.length);
    return table;
  }

  // The guest runs here now: the source learns when, and where the downtime's phases ended.
  void SendResumed(int64_t resume_ns, const std::vector<int64_t>& checkpoints) {
    const std::string text = json{{"checkpoints", checkpoints}}.dump();
    ch_.Send(Msg::kResumed, static_cast<uint64_t>(resume_ns), 0, text.data(), text.size());
  }

  // After resume: every page as received against `table`, the source's memory as it stopped (a
  // page whose update was never sent, such as one whose dirty bit was lost, holds an older
  // generation). Compares what was recorded on arrival, before the guest ran; the full content
  // check follows while the guest runs (bodies never change after pre-heat, headers stay
  // self-consistent).
  bool CheckGenerations(const std::vector<uint64_t>& table, std::string* why) {
    // What arrived (recorded as it arrived: no page is read again here) against the source's
    // record; a page never received has no generation at all.
    for (uint64_t i = 0; i < pages_; ++i) {
      if (received_[i] != table[i]) {
        *why = received_[i] == ~uint64_t{0}
                   ? fmt::format("page {}: never received", i)
                   : fmt::format("page {}: generation {}, the source's is {} (a lost update)", i,
                                 received_[i], table[i]);
        return false;
      }
    }
    return true;
  }

  // The guest runs on here for a while (the prober sees it answer, the writers write), then
  // stops, and every page's content is checked. The writers check each page's header before they
  // rewrite it (a rewrite would make a torn header whole again), so every page is checked as it
  // was at the resume: by the writer that first rewrites it, or here if none did.
  bool RunGuestThenVerify(bool verified, std::string* why) {
    SleepInterruptible(o_.run_after_ms * 1'000'000);
    writer_->Stop();
    std::string bad;
    if (const auto first = writer_->FirstError()) {
      bad = *first + " (found by the guest's writer, before it rewrote the page)";
    } else {
      writer_->VerifyAll(&bad);
    }
    if (!bad.empty() && verified) {
      *why = bad;
      return false;
    }
    return verified;
  }

  void StartGuest() {
    PageWriter::Options wo;
    wo.pattern = *WritePatternFromString(cfg_.value("pattern", std::string("sequential")));
    wo.rate_bytes_per_s = cfg_.value("dirty_rate", uint64_t{0});
    wo.threads = cfg_.value("vcpus", 1);
    wo.check_header = true;  // no rewrite may hide a damaged page (RunGuestThenVerify)
    writer_ = std::make_unique<PageWriter>(mem_->base(), pages_ * kPageSize, wo);
    if (wo.rate_bytes_per_s > 0) writer_->Start();
    echo_.Open(cfg_.value("echo_port", uint16_t{0}));
  }

  void SendDone(int64_t resume_ns, bool verified, const json& info) {
    const std::string text = info.dump();
    ch_.Send(Msg::kDone, static_cast<uint64_t>(resume_ns), verified ? 1 : 0, text.data(),
             text.size());
  }

  // Before resume: every page arrived at least once, and as many as the source sent. One pass
  // over what was recorded on arrival, so that the check does not lengthen the downtime much.
  bool CheckArrived(const json& state, std::string* why) const {
    const uint64_t sent = state.is_object() ? state.value("pages_sent", uint64_t{0}) : 0;
    if (sent != pages_received_) {
      *why = fmt::format("the source sent {} pages, {} arrived", sent, pages_received_);
      return false;
    }
    for (uint64_t i = 0; i < pages_; ++i) {
      if (received_[i] == ~uint64_t{0}) {
        *why = fmt::format("page {}: never received", i);
        return false;
      }
    }
    return true;
  }

  void FinishPrecopy(const Header& h) {
    const json state = json::parse(ch_.ReadPayloadString(h.length), nullptr, false);
    const int64_t t_loaded = MonoNs();
    slow_phase_.At("check");
    DamageForTest();
    std::string why;
    bool verified = CheckArrived(state, &why);
    const int64_t t_checked = MonoNs();
    slow_phase_.At("resume");
    StartGuest();
    const int64_t resume = MonoNs();  // downtime ends
    phase_ = "verification, the guest running here";
    resume_ns_ = resume;
    SendResumed(resume, {t_loaded, t_checked});
    const std::vector<uint64_t> final_state =
        ReadWords(Msg::kVerify, pages_, "the source's final memory state");
    const int64_t t_compare = MonoNs();
    if (verified) verified = CheckGenerations(final_state, &why);
    fmt::print(stderr,
               "migrate: destination: {} pages compared with the source's memory in "
               "{:.2f} ms, after the resume\n",
               pages_, Ms(MonoNs() - t_compare));
    verified = RunGuestThenVerify(verified, &why);
    json info = json::object();
    if (!verified) info["error"] = "memory verification failed: " + why;
    SendDone(resume, verified, info);
    Conclude(resume, verified, why);
  }

  // The test knobs that damage a page after it arrived, before the check: its body
  // (--test-corrupt-page), or its header's checksum as a torn copy leaves it
  // (--test-corrupt-header: the generation recorded on arrival stays right, so only a check of
  // the header itself, before the guest's writers rewrite it, can tell).
  void DamageForTest() {
    if (o_.corrupt_page >= 0 && static_cast<uint64_t>(o_.corrupt_page) < pages_) {
      mem_->page(static_cast<uint64_t>(o_.corrupt_page))[40] ^= 0x5a;  // in the body
    }
    if (o_.corrupt_header >= 0) {
      DamageHeaderForTest(mem_->page(static_cast<uint64_t>(o_.corrupt_header)));
    }
  }

  void RunPostcopy() {
    if (!postcopy_) throw RuntimeError("the source switched to postcopy without announcing it");
    const std::vector<uint64_t> discard =
        ReadWords(Msg::kState, (pages_ + 63) / 64, "the source's dirty bitmap");
    const int64_t t_loaded = MonoNs();
    slow_phase_.At("urgent_channel");
    Fd urgent_listener = BindAny(SOCK_STREAM, 0);
    ch_.Send(Msg::kReady, LocalPort(urgent_listener.get()));
    auto conn = AcceptWithTimeout(urgent_listener.get(), std::chrono::seconds(10));
    if (!conn) throw RuntimeError("the source did not open the urgent channel within 10 s");
    const int64_t t_connected = MonoNs();
    slow_phase_.At("discard");
    postcopy_->Start(Channel(std::move(*conn), "the source's urgent channel"), discard);
    const int64_t t_discarded = MonoNs();
    slow_phase_.At("resume");
    StartGuest();
    const int64_t resume = MonoNs();
    phase_ = "postcopy, the guest running here";
    resume_ns_ = resume;
    SendResumed(resume, {t_loaded, t_connected, t_discarded});
    while (true) {
      Header p = ch_.Receive("pages or the end marker");
      if (p.type == static_cast<uint32_t>(Msg::kEnd)) break;
      if (p.type != static_cast<uint32_t>(Msg::kPages)) {
        throw RuntimeError(fmt::format("unexpected message {} in postcopy", p.type));
      }
      ReceivePages(p);
    }
    postcopy_->Finish();
    phase_ = "verification, the guest running here";
    const std::vector<uint64_t> final_state =
        ReadWords(Msg::kVerify, pages_, "the source's final memory state");
    // Every copy placed was checked on arrival; now the generations against the source's memory.
    std::string why;
    bool verified = postcopy_->Verified(&why) && postcopy_->CompareGenerations(final_state, &why);
    verified = RunGuestThenVerify(verified, &why);
    json info = json::object();
    if (!verified) info["error"] = "memory verification failed: " + why;
    LatencyDistribution lat;
    lat.samples = postcopy_->Latencies();
    info["postcopy_latency_us"] = lat;
    result_.postcopy_latency = lat;
    SendDone(resume, verified, info);
    Conclude(resume, verified, why);
  }

  void Conclude(int64_t resume_ns, bool verified, const std::string& why) {
    result_.downtime = NsToDuration(resume_ns - pause_ns_);
    result_.verified = verified;
    if (!verified) result_.error = "memory verification failed: " + why;
    result_.status = Status::kCompleted;
  }

  DestinationOptions o_;
  Channel ch_;
  json cfg_;
  uint64_t pages_ = 0;
  std::unique_ptr<Memory> mem_;
  std::unique_ptr<PageWriter> writer_;
  std::unique_ptr<PostcopyDestination> postcopy_;
  GuestEcho echo_;
  std::vector<uint8_t> buffer_;
  std::vector<uint64_t> received_;  // generation of each page as received
  uint64_t pages_received_ = 0;     // precopy: pages received, resent ones counted again
  SlowPhase slow_phase_;            // the source's --test-slow-phase, for our phases
  int64_t pause_ns_ = 0;
  int64_t resume_ns_ = 0;                         // 0: the guest never resumed here
  std::string phase_ = "waiting for the source";  // where a failure happened, for its message
  MigrationResult result_;
};

}  // namespace

int RunDestination(DestinationOptions o) { return Destination(std::move(o)).Run(); }

}  // namespace migtest::engine
