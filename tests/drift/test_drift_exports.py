import inferwatch.drift as drift


def test_public_names_are_exactly_these() -> None:
    assert drift.__all__ == sorted(drift.__all__)
    assert set(drift.__all__) == {
        "Calibration", "CategoricalProfile", "DriftMonitor", "DriftReport", "FeatureDrift",
        "FeatureProfile", "NumericProfile", "Quality", "ReferenceProfile", "Statistic",
        "Thresholds", "VectorProfile", "WindowInfo", "build_profile", "load_profile",
        "save_profile", "watch",
    }
