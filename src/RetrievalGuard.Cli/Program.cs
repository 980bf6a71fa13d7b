var info = RetrievalGuard.Engine.Native.TorchRuntime.EnsureInitialized();
Console.WriteLine(info);
Console.WriteLine(TorchSharp.torch.ones(2).sum().item<float>());
