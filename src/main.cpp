#include <malloc.h>

#include "commands/cli.h"

int main(int argc, char** argv) {
  // A few threads share the heap: two malloc arenas keep the resident set
  // small (a pod's memory limit) at no measurable cost in speed.
  mallopt(M_ARENA_MAX, 2);
  return hm::run_cli(argc, argv);
}
