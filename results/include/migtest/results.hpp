// migtest results: the result model, result.json, and the parsers of every migration report.
#pragma once

#include "migtest/results/artifacts.hpp"
#include "migtest/results/format.hpp"
#include "migtest/results/json.hpp"
#include "migtest/results/model.hpp"
#include "migtest/results/parse.hpp"
#include "migtest/results/print.hpp"
#include "migtest/results/qmp_transcript.hpp"
