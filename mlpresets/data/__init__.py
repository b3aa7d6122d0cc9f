"""LightningDataModules, one file per dataset family. Data knows no model."""
