// libFuzzer target: result.json's from_json (json.cc), on any JSON value. It promises
// nlohmann::json::exception for a document it cannot read; a document it can read must survive
// the round trip (to_json, then from_json again, equal).
#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using nlohmann::json;
  const json doc = json::parse(migtest::fuzz::AsText(data, size), nullptr,
                               /*allow_exceptions=*/false);
  if (doc.is_discarded()) return 0;  // nlohmann's parser is not ours to fuzz
  migtest::RunResult run;
  try {
    run = doc.get<migtest::RunResult>();
  } catch (const json::exception&) {
    return 0;
  }
  const json written = run;
  migtest::RunResult back;
  try {
    back = written.get<migtest::RunResult>();
  } catch (const json::exception& e) {
    std::fprintf(stderr, "result.json we wrote does not read back: %s\n%s\n", e.what(),
                 written.dump().c_str());
    std::abort();
  }
  if (!(back == run)) {
    std::fprintf(stderr, "result.json round trip changed the result:\n%s\n%s\n",
                 written.dump().c_str(), json(back).dump().c_str());
    std::abort();
  }
  return 0;
}
