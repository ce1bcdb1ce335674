#include <iostream>
#include <string>
#include <vector>

#include "controller/app/options.h"

int main(int argc, char** argv) {
  using envop::app::ParsedOptions;
  const std::vector<std::string> args(argv + 1, argv + argc);
  const ParsedOptions parsed = envop::app::parseOptions(args);
  switch (parsed.outcome) {
    case ParsedOptions::Outcome::kHelp:
      std::cout << envop::app::usage("envop-controller");
      return 0;
    case ParsedOptions::Outcome::kError:
      std::cerr << "envop-controller: " << parsed.error << "\n";
      return 2;
    case ParsedOptions::Outcome::kRun:
      break;
  }
  return 0;
}
