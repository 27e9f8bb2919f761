"""Torch datasets over AnnData: uint8 codes in, one-hot on the device."""
