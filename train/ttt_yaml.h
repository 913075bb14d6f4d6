// Reading a TTT layer config from YAML (the `ttt:` block of a training config, or a ttt-probe
// config file). Every unknown key, wrong type and invalid value is reported with its key path
// and line:column, all at once.
#pragma once
#include <string>

#include "ttt/config.h"

namespace YAML {
class Node;
}

namespace ttt {

// `where` is the key path of the block ("model.layers.ttt"), used in messages.
TTTConfig ttt_config_from_yaml(const YAML::Node& node, const std::string& where);
// Parses a YAML document (text) whose top level is the TTT block; `source` names it in messages.
TTTConfig ttt_config_from_yaml_text(const std::string& text, const std::string& source);

}  // namespace ttt
