"""`python -m predrnn_keras.export MODEL DIR --horizon N`: exports a `.keras`
file, or the best model of a run folder, as a SavedModel. Run with
KERAS_BACKEND=tensorflow, it exports models trained under PyTorch."""

import argparse


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", help="a .keras file or a run folder")
    parser.add_argument("export_dir")
    parser.add_argument("--horizon", type=int, required=True)
    parser.add_argument("--context-length", type=int, default=None)
    args = parser.parse_args(argv)

    import keras

    from predrnn_keras.export.saved_model import export_in_process
    from predrnn_keras.run_folder import model_file

    model = keras.saving.load_model(model_file(args.model))
    export_in_process(
        model,
        args.export_dir,
        args.horizon,
        args.context_length or model.input_length,
    )


if __name__ == "__main__":
    main()
