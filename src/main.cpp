#include "hm/cli.h"

int main(int argc, char** argv) { return hm::run_cli(argc, argv); }
