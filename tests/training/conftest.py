import pytest

torch = pytest.importorskip("torch", reason="the training extra (torch) is not installed")
