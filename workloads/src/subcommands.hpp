// migmon's sub-commands. Each takes (argc, argv) with argv[0] naming the sub-command (as CLI11
// expects) and returns the process exit code: 0 success, 1 runtime error, 2 usage error, 3 memory
// corruption found (mm_dirty --verify).
//
// Adding one: define `int RunFoo(int argc, char** argv)` in a .cc under workloads/src/ (picked up
// by CMake's glob), declare it here, add one row to kSubcommands in main.cc.
#pragma once

namespace migtest {

int RunMmDirty(int argc, char** argv);
int RunServerRr(int argc, char** argv);
int RunClientRr(int argc, char** argv);
int RunServerOneWay(int argc, char** argv);
int RunClientOneWay(int argc, char** argv);
int RunVm(int argc, char** argv);
int RunMigrate(int argc, char** argv);  // the embedded migration engine (engine/)

}  // namespace migtest
