"""The local stack: AWS emulator, resources from the merge template, verifying gateway, event worker."""
