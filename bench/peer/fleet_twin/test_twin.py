"""Unit tests of the twin's pure parts, on the Rust unit tests' own cases (no server, no S3):

    cd bench/peer && ../.venv/bin/python -m unittest fleet_twin.test_twin
"""

from __future__ import annotations

import unittest

import numpy as np

from . import accuracy, contracts as c, geo
from .luma import KB, KG, KR, rgb_to_luma


class Luma(unittest.TestCase):
    def test_image_crate_cases(self):
        # image 0.25.10's own test: pure red is 54 (255 * 0.2126, rounded).
        self.assertEqual(rgb_to_luma(np.array([[255, 0, 0]], np.uint8)).tolist(), [54])
        self.assertEqual(rgb_to_luma(np.array([[255, 255, 255], [0, 0, 0]], np.uint8)).tolist(), [255, 0])
        for k, expected in zip((KR, KG, KB), (0.2126, 0.7152, 0.0722)):
            self.assertAlmostEqual(float(k), expected, delta=1e-4)


class Tiling(unittest.TestCase):
    def test_remainders_go_to_the_last_column_and_row(self):
        tiles = accuracy.grid(103, 50, 4, 3)
        self.assertEqual(len(tiles), 12)
        self.assertEqual(tiles[0], {"column": 0, "row": 0, "x": 0, "y": 0, "width": 25, "height": 16})
        self.assertEqual(tiles[11], {"column": 3, "row": 2, "x": 75, "y": 32, "width": 28, "height": 18})
        self.assertEqual(sum(t["width"] * t["height"] for t in tiles), 103 * 50)

    def test_refuses_empty_grids_and_tiny_tiles(self):
        with self.assertRaises(accuracy.InputFault):
            accuracy.grid(100, 100, 0, 4)
        with self.assertRaises(accuracy.InputFault):
            accuracy.grid(11, 100, 4, 4)
        self.assertEqual(len(accuracy.grid(12, 12, 4, 4)), 16)


def tile(row, column, variance, luminance, worker="a"):
    return {
        "tile": {"column": column, "row": row, "x": column * 10, "y": row * 10, "width": 10, "height": 10, "object": c.obj("b", f"t/r{row}c{column}.png")},
        "laplacian_variance": variance,
        "mean_luminance": luminance,
        "shadow_clipped_fraction": 0.0,
        "highlight_clipped_fraction": 0.0,
        "noise_sigma": 5.0,
        "blurred": variance < 100.0,
        "worker": worker,
    }


def report(tiles):
    return accuracy.build_report(
        {"image": c.obj("in", "a.jpg"), "report": c.obj("out", "r.json"), "columns": 2, "rows": 2, "tiles": tiles, "thresholds": c.DEFAULT_SETTINGS["thresholds"]}
    )


class Report(unittest.TestCase):
    def test_sharp_well_exposed_image_passes_with_the_documented_score(self):
        built = report([tile(1, 1, 900.0, 120.0, "b"), tile(0, 0, 800.0, 110.0), tile(0, 1, 700.0, 130.0, "b"), tile(1, 0, 600.0, 100.0)])
        self.assertTrue(built["passed"], built["failures"])
        self.assertAlmostEqual(built["score"]["overall"], 97.0, delta=1e-9)
        self.assertEqual(built["aggregate"]["median_laplacian_variance"], 750.0)
        self.assertEqual(built["grid"][1][0]["laplacian_variance"], 600.0)
        self.assertEqual(built["processors"], ["a", "b"])

    def test_blurred_dark_image_fails_with_reasons(self):
        built = report([tile(0, 0, 20.0, 30.0), tile(0, 1, 10.0, 30.0), tile(1, 0, 5.0, 30.0), tile(1, 1, 500.0, 30.0)])
        expected = 45.0 * 0.25 + 25.0 * (1.0 - 10.0 / 64.0) + 15.0 + 15.0 * 0.8
        self.assertAlmostEqual(built["score"]["overall"], expected, delta=1e-9)
        text = "\n".join(built["failures"])
        self.assertIn("blur: 3 of 4 tiles (75%) have a Laplacian variance below 100 (at most 25% may be blurred", text)
        self.assertIn("underexposed, mean luminance 30.0 below 40", text)
        self.assertEqual(len(built["failures"]), 3)

    def test_incomplete_grids_are_refused(self):
        with self.assertRaises(accuracy.InputFault):
            report([tile(0, 0, 1.0, 1.0), tile(0, 1, 1.0, 1.0), tile(1, 0, 1.0, 1.0)])


class Bookkeeping(unittest.TestCase):
    def test_ids_and_keys(self):
        image = c.obj("fleet-inputs", "flights/day 1/IMG 0001.jpg")
        self.assertEqual(c.image_workflow_id("b1", 7, image), "b1/7-IMG-0001.jpg")
        self.assertEqual(c.image_output_prefix("b1", image), "automation/b1/flights/day 1/IMG 0001.jpg")
        self.assertEqual(c.summary_part_object("fleet-outputs", "b1", 3)["key"], "automation/b1/summary/part-0003.json")
        self.assertIsNotNone(c.batch_id_problem("../x"))
        self.assertIsNone(c.batch_id_problem("batch-2024.06_01"))

    def test_listing_keeps_images_and_skips_sidecars_and_outputs(self):
        for key in ["f/a.jpg", "f/b.JPEG", "f/c.png", "f/d.tif", "f/e.TIFF"]:
            self.assertTrue(c.is_batch_image(key, "f/"), key)
        for key in ["f/a.jpg.metadata.json", "f/d.tfw", "f/noextension", "f/.png", "automation/b1/f/a.jpg/tiles/r0c0.png"]:
            self.assertFalse(c.is_batch_image(key, ""), key)
        self.assertTrue(c.is_batch_image("automation/b1/x.png", "automation/b1/"))

    def test_error_outcomes_name_the_object(self):
        image = c.obj("fleet-inputs", "f/corrupt.jpg")
        self.assertEqual(c.error_outcome(image, None, "timed out", None)["error"], "s3://fleet-inputs/f/corrupt.jpg: timed out")
        named = c.error_outcome(image, None, "s3://fleet-inputs/f/corrupt.jpg: truncated", "InvalidInput")
        self.assertEqual(named["error"], "s3://fleet-inputs/f/corrupt.jpg: truncated (InvalidInput)")

    def test_settings_take_defaults_and_drop_unknown_fields(self):
        settings = c.settings_of({"settings": {"tile_columns": 2, "pixels_per_task": 5, "thresholds": {"min_overall_score": 1.0}}})
        self.assertEqual(settings["tile_columns"], 2)
        self.assertNotIn("pixels_per_task", settings)
        self.assertEqual(settings["thresholds"]["min_overall_score"], 1.0)
        self.assertEqual(settings["thresholds"]["max_clipped_fraction"], 0.05)


class Georeferencing(unittest.TestCase):
    def test_sidecar_names(self):
        self.assertEqual(geo.world_file_keys("d/scene.tif"), ["d/scene.tfw", "d/scene.tifw", "d/scene.wld"])
        self.assertEqual(geo.world_file_keys("d/scene.JPG"), ["d/scene.JGW", "d/scene.JPGW", "d/scene.WLD"])
        self.assertEqual(geo.world_file_keys("d.x/scene"), ["d.x/scene.wld"])
        self.assertEqual(geo.prj_key("a/b.png"), "a/b.prj")

    def test_prj_forms(self):
        self.assertEqual(geo.parse_prj_epsg("p", "epsg:32718\n"), 32718)
        self.assertEqual(geo.parse_prj_epsg("p", 'PROJCRS["x", BASEGEOGCRS["y", ID["EPSG", 4326]], ID["EPSG", 32633]]'), 32633)
        with self.assertRaises(geo.GeorefError):
            geo.parse_prj_epsg("p", 'PROJCS["custom"]')

    def test_world_file_is_shifted_to_pixel_corners(self):
        t = geo.parse_world_file("scene.jgw", "0.5\n0\n0\n-0.5\n10.25\n49.75\n")
        self.assertEqual(geo.apply(t, 0.0, 0.0), (10.0, 50.0))
        with self.assertRaisesRegex(geo.GeorefError, "5 numbers, 6 expected"):
            geo.parse_world_file("scene.jgw", "1\n0\n0\n-1\n10\n")

    def test_wgs84_passes_through_exactly(self):
        georef = {"width": 10, "height": 8, "epsg": 4326, "transform": (0.25, 0.0, 12.5, 0.0, -0.25, 41.75)}
        fp = geo.compute(georef)
        self.assertEqual(fp["corners"], [[12.5, 41.75], [15.0, 41.75], [15.0, 39.75], [12.5, 39.75]])
        self.assertEqual(fp["center"], [13.75, 40.75])

    def test_utm_north_and_out_of_domain(self):
        georef = {"width": 4000, "height": 3000, "epsg": 32633, "transform": (10.0, 0.0, 350_000.0, 0.0, -10.0, 5_600_000.0)}
        fp = geo.compute(georef)
        self.assertEqual(fp["gsd_m"], [10.0, 10.0])
        self.assertTrue(12.8 < fp["corners"][0][0] < 13.0 and 50.4 < fp["corners"][0][1] < 50.6, fp)
        far = {"width": 10, "height": 10, "epsg": 32633, "transform": (10.0, 0.0, 500_000.0, 0.0, -10.0, 90_000_000.0)}
        with self.assertRaisesRegex(geo.GeorefError, "cannot be converted to WGS84"):
            geo.compute(far)
        with self.assertRaisesRegex(geo.GeorefError, "EPSG:65000 is not a known"):
            geo.compute({**georef, "epsg": 65000})

    def test_geokeys(self):
        header = {"width": 2, "height": 2, "pixel_scale": [1.0, 1.0, 0.0], "tiepoints": [0.0, 0.0, 0.0, 10.0, 20.0, 0.0], "transformation": None, "geokeys": None}
        with self.assertRaisesRegex(geo.GeorefError, "no EPSG code"):
            geo.georeference_from_tiff(header)
        user_defined = {**header, "geokeys": [1, 1, 0, 2, 1024, 0, 1, 1, 3072, 0, 1, 32767]}
        with self.assertRaisesRegex(geo.GeorefError, "user-defined projected CRS"):
            geo.georeference_from_tiff(user_defined)
        point = {**header, "pixel_scale": [10.0, 10.0, 0.0], "tiepoints": [0.0, 0.0, 0.0, 1000.0, 2000.0, 0.0], "geokeys": [1, 1, 0, 2, 1025, 0, 1, 2, 3072, 0, 1, 32633]}
        g = geo.georeference_from_tiff(point)
        self.assertEqual((g["epsg"], g["raster_type"], geo.apply(g["transform"], 0.0, 0.0)), (32633, "pixel_is_point", (995.0, 2005.0)))


if __name__ == "__main__":
    unittest.main()
