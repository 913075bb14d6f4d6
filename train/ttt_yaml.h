// Reading a TTT layer config from YAML (the `ttt:` block of a training config, or a ttt-probe
// config file). Every unknown key, wrong type and invalid value is reported with its key path
// and line:column, all at once.
#pragma once
#include <string>

#include "train/yaml_reader.h"
#include "ttt/config.h"

namespace ttt {

// Reads the block at `where` (e.g. "ttt"), appending problems instead of throwing. `defaults`
// supplies values the block may omit (the training config fills in width and heads).
TTTConfig read_ttt_config(const YAML::Node& node, const std::string& where, Problems& problems,
                          const TTTConfig& defaults = TTTConfig());
// Parses a YAML document whose top level is the TTT block; throws ttt::Error listing every problem.
TTTConfig ttt_config_from_yaml_text(const std::string& text, const std::string& source);

}  // namespace ttt
