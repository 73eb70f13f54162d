// An output folder replaced whole: the run builds it beside its final place
// (`OUT.partial-PID`) and renames it in when everything is written, so a reader, or a run killed
// at any instant, sees either the previous folder or the new one, never a mix.
//
// Call under the folder's OutputLock (core/output_lock.h): the sweep of what dead runs left and
// the two renames of publish() must not interleave with another run's.
#pragma once
#include <filesystem>

namespace edgepack {

// What a dead run left beside `out`: its staging folder is removed, and a previous result moved
// aside by a run killed between publish()'s two renames is put back (or dropped when `out` exists).
void sweep_stale_staging(const std::filesystem::path& out);

class StagedFolder {
 public:
  // Creates the empty staging folder for `out` (an absolute, normal path).
  explicit StagedFolder(std::filesystem::path out);
  ~StagedFolder();   // removes the staging folder unless published
  StagedFolder(const StagedFolder&) = delete;
  StagedFolder& operator=(const StagedFolder&) = delete;

  // Where to write the folder's files.
  const std::filesystem::path& path() const { return staged_; }
  // Replaces `out` with the staged folder: an existing `out` is moved aside first and removed
  // only after the new one is in place.
  void publish();

 private:
  std::filesystem::path out_, staged_;
  bool published_ = false;
};

}  // namespace edgepack
