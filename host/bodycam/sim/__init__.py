"""The virtual ESP32-CAM board."""
