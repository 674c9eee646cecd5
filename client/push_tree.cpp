// Walking the PATH arguments of `curvecp push` (push_tree.h).
#include "client/push_tree.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <set>

namespace curvecp::push {
namespace {

std::string errno_text() { return std::strerror(errno); }

// The name a PATH is sent under: its last component, "." and ".." resolved.
Result<std::string> top_name(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  std::string name = p.substr(p.find_last_of('/') == std::string::npos ? 0 : p.find_last_of('/') + 1);
  if (name == "." || name == "..") {
    char resolved[PATH_MAX];
    if (!::realpath(p.c_str(), resolved)) return make_error(path + ": " + errno_text());
    std::string r = resolved;
    name = r.substr(r.find_last_of('/') + 1);
  }
  if (name.empty() || name == "/") return make_error(path + ": has no name to send it under");
  return name;
}

Entry entry_from_stat(const struct stat& st, const std::string& name) {
  Entry e;
  e.mode = st.st_mode & 07777;
  e.mtime_s = st.st_mtim.tv_sec;
  e.mtime_ns = static_cast<uint32_t>(st.st_mtim.tv_nsec);
  e.path = name;
  return e;
}

class Walker {
 public:
  explicit Walker(LocalTree& tree) : tree_(tree) {}

  // Adds `local` (already lstat'ed as st) under `name`, recursing into directories.
  void add(const std::string& local, const std::string& name, const struct stat& st) {
    Entry e = entry_from_stat(st, name);
    if (S_ISREG(st.st_mode)) {
      e.kind = EntryKind::file;
      e.size = static_cast<uint64_t>(st.st_size);
      tree_.entries.push_back({e, local});
    } else if (S_ISLNK(st.st_mode)) {
      add_symlink(local, e);
    } else if (S_ISDIR(st.st_mode)) {
      e.kind = EntryKind::directory;
      tree_.entries.push_back({e, local});
      add_children(local, name);
    } else {
      tree_.skipped.push_back(local + ": not a regular file, directory or symlink: not sent");
    }
  }

 private:
  void add_symlink(const std::string& local, Entry e) {
    std::vector<char> buf(PATH_MAX + 1);
    ssize_t n = ::readlink(local.c_str(), buf.data(), buf.size());
    if (n < 0 || static_cast<size_t>(n) >= buf.size()) {
      tree_.skipped.push_back(local + ": cannot read the link: " + errno_text());
      return;
    }
    e.kind = EntryKind::symlink;
    e.link_target.assign(buf.data(), static_cast<size_t>(n));
    tree_.entries.push_back({e, local});
  }

  void add_children(const std::string& local, const std::string& name) {
    DIR* dir = ::opendir(local.c_str());
    if (!dir) {
      tree_.skipped.push_back(local + ": cannot read the directory: " + errno_text());
      return;
    }
    std::vector<std::string> children;
    while (struct dirent* d = ::readdir(dir)) {
      std::string child = d->d_name;
      if (child != "." && child != "..") children.push_back(child);
    }
    ::closedir(dir);
    std::sort(children.begin(), children.end());
    for (const auto& child : children) {
      const std::string path = local + "/" + child;
      struct stat st;
      if (::lstat(path.c_str(), &st) != 0) {
        tree_.skipped.push_back(path + ": " + errno_text());
        continue;
      }
      add(path, name + "/" + child, st);
    }
  }

  LocalTree& tree_;
};

}  // namespace

Result<LocalTree> collect_tree(const std::vector<std::string>& paths) {
  LocalTree tree;
  std::set<std::string> names;
  Walker walker(tree);
  for (const auto& path : paths) {
    auto name = top_name(path);
    if (!name) return name.error();
    if (!names.insert(*name).second) return make_error("two PATHs would both arrive as '" + *name + "'");
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return make_error(path + ": " + errno_text());
    std::string local = path;
    while (local.size() > 1 && local.back() == '/') local.pop_back();
    walker.add(local, *name, st);
  }
  return tree;
}

}  // namespace curvecp::push
