// AtomicFile: the temporary file, commit, discard on destruction, and the clean-up of temporary
// files that killed writers leave behind.
#include "train/atomic_file.h"

#include <filesystem>
#include <gtest/gtest.h>
#include <unistd.h>

#include "core/error.h"
#include "train/idx.h"
#include "train/temp_dir.h"

namespace cudanet::train {
namespace {

using cudanet::testing::TempDir;

TEST(AtomicFile, CommitReplacesTheFileAndAnAbandonedWriteLeavesNoTrace) {
  TempDir dir;
  const std::string path = dir.file("out.bin");
  write_file_atomic(path, "old");
  {
    AtomicFile f(path);
    EXPECT_EQ(f.temp_path(), path + ".tmp." + std::to_string(::getpid()));
    f.write("new contents");
    EXPECT_EQ(read_file_bytes(path), "old");  // not replaced before commit
    f.commit();
    EXPECT_THROW(f.write("more"), IoError);
  }
  EXPECT_EQ(read_file_bytes(path), "new contents");
  {
    AtomicFile f(path);
    f.write("abandoned");
  }  // destroyed without commit: as if an exception had been thrown on the way
  EXPECT_EQ(read_file_bytes(path), "new contents");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
  EXPECT_THROW(AtomicFile(dir.file("no/such/dir/x")), IoError);
}

TEST(AtomicFile, RemovesOnlyTheTemporariesOfDeadWriters) {
  TempDir dir;
  const std::string path = dir.file("last.safetensors");
  // pid 2^22 + 1 is above Linux's pid limit, so no process has it.
  const std::string dead = path + ".tmp.4194305";
  const std::string alive = path + ".tmp." + std::to_string(::getpid());
  for (const std::string& name :
       {dead, alive, path, path + ".tmp.12x", path + ".tmp.", dir.file("other.tmp.4194305"),
        dir.file("last.safetensors.bak")}) {
    dir.write(std::filesystem::path(name).filename().string(), "x");
  }
  const std::vector<std::string> removed = remove_stale_temporaries(path);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0], dead);
  EXPECT_FALSE(std::filesystem::exists(dead));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 6);
  EXPECT_TRUE(remove_stale_temporaries("").empty());
  EXPECT_TRUE(remove_stale_temporaries(dir.file("no/such/dir/f")).empty());
}

}  // namespace
}  // namespace cudanet::train
