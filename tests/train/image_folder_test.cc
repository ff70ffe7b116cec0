// Image data sets on disk: ImageFolder scanning, list files, and the synthetic image folder.
#include "train/image_folder.h"

#include <filesystem>
#include <gtest/gtest.h>

#include "core/error.h"
#include "temp_dir.h"
#include "train/jpeg.h"
#include "train/synthetic_images.h"

namespace cudanet::train {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

TEST(ImageFolder, ClassesSortedFilesSortedOtherFilesIgnored) {
  TempDir d;
  for (const char* c : {"zebra", "ant", "moose"}) fs::create_directories(d.file(c));
  d.write("zebra/b.jpg", "x");
  d.write("zebra/a.JPEG", "x");
  d.write("ant/1.jpeg", "x");
  d.write("ant/notes.txt", "x");
  d.write("moose/m.Jpg", "x");
  d.write("stray.jpg", "x");  // not in a class directory
  const ImageList l = scan_image_folder(d.path());
  EXPECT_EQ(l.classes, (std::vector<std::string>{"ant", "moose", "zebra"}));
  ASSERT_EQ(l.size(), 4);
  EXPECT_EQ(fs::path(l.paths[0]).filename(), "1.jpeg");
  EXPECT_EQ(fs::path(l.paths[1]).filename(), "m.Jpg");
  EXPECT_EQ(fs::path(l.paths[2]).filename(), "a.JPEG");
  EXPECT_EQ(fs::path(l.paths[3]).filename(), "b.jpg");
  EXPECT_EQ(l.labels, (std::vector<std::int64_t>{0, 1, 2, 2}));
}

TEST(ImageFolder, MissingOrEmptyFoldersAreClearErrors) {
  TempDir d;
  EXPECT_THROW(scan_image_folder(d.file("nope")), IoError);
  try {
    scan_image_folder(d.path());
    FAIL() << "an empty folder was accepted";
  } catch (const ValueError& e) {
    EXPECT_NE(e.message().find("no class directories"), std::string::npos) << e.message();
  }
  fs::create_directories(d.file("cat"));
  d.write("cat/readme.txt", "x");
  EXPECT_THROW(scan_image_folder(d.path()), ValueError);
  EXPECT_THROW(load_image_list("imagefolder:" + d.file("nope")), IoError);
  EXPECT_THROW(load_image_list("folder:" + d.path()), ValueError);
}

TEST(ImageList, ReadsPathsAndLabelsRelativeToTheListFile) {
  TempDir d;
  const std::string list = d.write("train.txt",
                                   "# comment\n"
                                   "a/x.jpg 0\n"
                                   "\n"
                                   "b/with space.jpg   2\r\n"
                                   "/abs/y.jpg 1\n");
  const ImageList l = read_image_list(list);
  ASSERT_EQ(l.size(), 3);
  EXPECT_EQ(l.paths[0], (fs::path(d.path()) / "a/x.jpg").string());
  EXPECT_EQ(l.paths[1], (fs::path(d.path()) / "b/with space.jpg").string());
  EXPECT_EQ(l.paths[2], "/abs/y.jpg");
  EXPECT_EQ(l.labels, (std::vector<std::int64_t>{0, 2, 1}));
  EXPECT_EQ(l.num_classes(), 3);
  EXPECT_EQ(read_image_list(list, 5).num_classes(), 5);
  EXPECT_THROW(read_image_list(list, 2), ValueError);  // label 2 is out of range
  EXPECT_EQ(load_image_list("list:" + list).size(), 3);
}

TEST(ImageList, MalformedLinesNameFileAndLine) {
  TempDir d;
  try {
    read_image_list(d.write("l.txt", "a.jpg 0\nb.jpg cat\n"));
    FAIL() << "a bad label was accepted";
  } catch (const ValueError& e) {
    EXPECT_NE(e.message().find("l.txt:2"), std::string::npos) << e.message();
  }
  EXPECT_THROW(read_image_list(d.write("m.txt", "justapath\n")), ValueError);
  EXPECT_THROW(read_image_list(d.write("n.txt", "a.jpg -1\n")), ValueError);
  EXPECT_THROW(read_image_list(d.write("e.txt", "# nothing\n\n")), ValueError);
  EXPECT_THROW(read_image_list(d.file("missing.txt")), IoError);
}

TEST(SyntheticImages, DeterministicPerSeedAndClassDependent) {
  const Image a = render_synthetic_image(3, 10, 64, 48, 1, 7);
  EXPECT_EQ(a.pixels, render_synthetic_image(3, 10, 64, 48, 1, 7).pixels);
  EXPECT_NE(a.pixels, render_synthetic_image(3, 10, 64, 48, 2, 7).pixels);
  EXPECT_NE(a.pixels, render_synthetic_image(3, 10, 64, 48, 1, 8).pixels);
  EXPECT_THROW(render_synthetic_image(10, 10, 64, 48, 1, 0), ValueError);
  // The brightest pixels (the shape) of class 0 lean red, those of class 5 (hue 1/2) cyan.
  auto brightest_mean = [](const Image& img, int channel) {
    double s = 0;
    int n = 0;
    for (std::size_t i = 0; i < img.pixels.size(); i += 3) {
      const int sum = img.pixels[i] + img.pixels[i + 1] + img.pixels[i + 2];
      if (sum > 300) s += img.pixels[i + static_cast<std::size_t>(channel)], ++n;
    }
    return n ? s / n : 0.0;
  };
  const Image red = render_synthetic_image(0, 10, 96, 96, 1, 0);
  const Image cyan = render_synthetic_image(5, 10, 96, 96, 1, 0);
  EXPECT_GT(brightest_mean(red, 0), brightest_mean(red, 2) + 100);
  EXPECT_GT(brightest_mean(cyan, 2), brightest_mean(cyan, 0) + 100);
}

TEST(SyntheticImages, WritesAnImageFolderThatScansAndDecodes) {
  if (!jpeg_available()) GTEST_SKIP() << "built without libjpeg-turbo";
  TempDir d;
  SyntheticFolderOptions o;
  o.classes = 3;
  o.per_class = 4;
  o.width = 40;
  o.height = 30;
  o.seed = 5;
  EXPECT_EQ(write_synthetic_imagefolder(d.path(), o), 12);
  const ImageList l = scan_image_folder(d.path());
  ASSERT_EQ(l.size(), 12);
  EXPECT_EQ(l.classes, (std::vector<std::string>{"class00", "class01", "class02"}));
  EXPECT_EQ(l.labels[11], 2);
  std::ifstream f(l.paths[5], std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const Image img = decode_jpeg(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  EXPECT_EQ(img.width, 40);
  EXPECT_EQ(img.height, 30);
  o.classes = 0;
  EXPECT_THROW(write_synthetic_imagefolder(d.path(), o), ValueError);
}

}  // namespace
}  // namespace cudanet::train
