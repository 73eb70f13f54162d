#include "export/artifact_folder.h"

#include <unistd.h>

namespace edgepack {

namespace fs = std::filesystem;

namespace {

std::string staging_suffix() { return ".partial-"; }
std::string aside_suffix() { return ".old-"; }

}  // namespace

void sweep_stale_staging(const fs::path& out) {
  const std::string partial = out.filename().string() + staging_suffix(), old = out.filename().string() + aside_suffix();
  for (const auto& e : fs::directory_iterator(out.parent_path())) {
    const std::string name = e.path().filename().string();
    if (name.rfind(partial, 0) == 0) {
      fs::remove_all(e.path());
    } else if (name.rfind(old, 0) == 0) {
      if (fs::exists(out)) fs::remove_all(e.path());
      else fs::rename(e.path(), out);
    }
  }
}

StagedFolder::StagedFolder(fs::path out)
    : out_(std::move(out)), staged_(out_.string() + staging_suffix() + std::to_string(::getpid())) {
  fs::remove_all(staged_);
  fs::create_directories(staged_);
}

StagedFolder::~StagedFolder() {
  if (published_) return;
  std::error_code ec;   // a destructor during unwinding must not throw
  fs::remove_all(staged_, ec);
}

void StagedFolder::publish() {
  fs::path old;
  if (fs::exists(out_)) {
    old = out_.string() + aside_suffix() + std::to_string(::getpid());
    fs::rename(out_, old);
  }
  fs::rename(staged_, out_);
  published_ = true;
  if (!old.empty()) fs::remove_all(old);
}

}  // namespace edgepack
