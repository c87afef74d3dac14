// migtest's QMP transcript (qmp-transcript.jsonl, written by the qemu backend, read by the
// qemu-qmp parser): every QMP object either QEMU sent or received, one JSON object a line, as they
// arrived, each tagged with the side it belongs to under the key kQmpSideKey. The tag is what lets
// the parser pair the source's STOP with the destination's RESUME (the guest's pause): a RESUME
// without it may be the source's own (a failed or cancelled migration resumes the source), so an
// untagged transcript (a plain log of one QMP socket) gives no STOP→RESUME gap.
//
//   {"timestamp": {…}, "event": "STOP", "migtest-side": "source"}
//   {"timestamp": {…}, "event": "RESUME", "migtest-side": "destination"}
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

namespace migtest {

enum class QmpSide { kSource, kDestination };

inline constexpr std::string_view kQmpSideKey = "migtest-side";

// "source" | "destination": the tag's value.
std::string_view ToString(QmpSide side);

// `object` with its side's tag added.
nlohmann::json TagQmpSide(nlohmann::json object, QmpSide side);

// The side an object is tagged with; nullopt when it carries no tag or one of another value
// (object.contains(kQmpSideKey) tells the two apart).
std::optional<QmpSide> QmpSideOf(const nlohmann::json& object);

}  // namespace migtest
