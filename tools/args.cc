#include "tools/args.h"

#include <cstdio>
#include <sstream>

namespace cudanet::tools {

namespace {
template <typename T, typename Convert>
T convert(const std::string& flag, const std::string& text, const char* kind, Convert&& f) {
  try {
    std::size_t used = 0;
    T v = f(text, &used);
    if (used == text.size() && !text.empty()) return v;
  } catch (const std::exception&) {
  }
  CUDANET_THROW(UsageError, flag, " expects ", kind, ", got '", text, "'");
}
}  // namespace

ArgParser::ArgParser(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

ArgParser& ArgParser::add(Option o) {
  options_.push_back(std::move(o));
  return *this;
}

ArgParser& ArgParser::flag(const std::string& name, std::string* t, const std::string& help) {
  return add({name, help, *t, true, [t](const std::string& v) { *t = v; }});
}

ArgParser& ArgParser::flag(const std::string& name, std::int64_t* t, const std::string& help) {
  return add({name, help, std::to_string(*t), true, [t, name](const std::string& v) {
                *t = convert<std::int64_t>(
                    name, v, "an integer",
                    [](const std::string& s, std::size_t* u) { return std::stoll(s, u); });
              }});
}

ArgParser& ArgParser::flag(const std::string& name, std::uint64_t* t, const std::string& help) {
  return add({name, help, std::to_string(*t), true, [t, name](const std::string& v) {
                CUDANET_CHECK(v.empty() || v[0] != '-', UsageError, name,
                              " expects a non-negative integer, got '", v, "'");
                *t = convert<std::uint64_t>(
                    name, v, "a non-negative integer",
                    [](const std::string& s, std::size_t* u) { return std::stoull(s, u); });
              }});
}

ArgParser& ArgParser::flag(const std::string& name, double* t, const std::string& help) {
  std::ostringstream def;
  def << *t;
  return add({name, help, def.str(), true, [t, name](const std::string& v) {
                *t = convert<double>(name, v, "a number", [](const std::string& s, std::size_t* u) {
                  return std::stod(s, u);
                });
              }});
}

ArgParser& ArgParser::toggle(const std::string& name, bool* t, const std::string& help) {
  return add({name, help, "", false, [t](const std::string&) { *t = true; }});
}

bool ArgParser::parse(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::fputs(help().c_str(), stdout);
      return false;
    }
    const Option* match = nullptr;
    for (const Option& o : options_) {
      if (o.name == a) match = &o;
    }
    CUDANET_CHECK(match != nullptr, UsageError, "unknown option '", a, "'");
    if (match->takes_value) {
      CUDANET_CHECK(i + 1 < args.size(), UsageError, a, " needs a value");
      match->set(args[++i]);
    } else {
      match->set("");
    }
  }
  return true;
}

std::string ArgParser::help() const {
  std::ostringstream os;
  os << "usage: cudanet " << command_ << " [options]\n" << summary_ << "\n\noptions:\n";
  for (const Option& o : options_) {
    std::string left = "  " + o.name + (o.takes_value ? " VALUE" : "");
    if (left.size() < 24) left.resize(24, ' ');
    os << left << " " << o.help;
    if (o.takes_value && !o.default_text.empty()) os << " (default " << o.default_text << ")";
    os << "\n";
  }
  return os.str();
}

}  // namespace cudanet::tools
