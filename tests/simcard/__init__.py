"""Tests of the virtual My Number card (drivers/simcard) in process and through pcscd."""
